// Command auth-unlock is the auth-unlock function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "auth-unlock") }

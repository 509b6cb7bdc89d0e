// Command auth-verify is the auth-verify function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "auth-verify") }

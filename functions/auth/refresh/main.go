// Command auth-refresh is the auth-refresh function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "auth-refresh") }

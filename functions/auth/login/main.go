// Command auth-login is the auth-login function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "auth-login") }

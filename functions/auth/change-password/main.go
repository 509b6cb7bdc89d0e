// Command auth-change-password is the auth-change-password function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "auth-change-password") }

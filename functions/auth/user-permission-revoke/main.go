// Command user-permission-revoke is the user-permission-revoke function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "user-permission-revoke") }

// Command user-permission-grant is the user-permission-grant function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "user-permission-grant") }

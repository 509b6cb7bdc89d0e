// Command user-by-customer is the user-by-customer function of the Auth service.
package main

import (
	"phonebill/functions/auth"
	"phonebill/shared/fn"
)

func main() { fn.Main(auth.Service(), "user-by-customer") }

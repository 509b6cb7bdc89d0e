// Command bill-menu is the bill-menu function of the Bill service.
package main

import (
	"phonebill/functions/bill"
	"phonebill/shared/fn"
)

func main() { fn.Main(bill.Service(), "bill-menu") }

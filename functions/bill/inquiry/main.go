// Command bill-inquiry is the bill-inquiry function of the Bill service.
package main

import (
	"phonebill/functions/bill"
	"phonebill/shared/fn"
)

func main() { fn.Main(bill.Service(), "bill-inquiry") }

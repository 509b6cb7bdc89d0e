// Command bill-cache-evict is the bill-cache-evict function of the Bill service.
package main

import (
	"phonebill/functions/bill"
	"phonebill/shared/fn"
)

func main() { fn.Main(bill.Service(), "bill-cache-evict") }

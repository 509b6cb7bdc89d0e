// Command product-deadletter serves the Knative function product-deadletter of the Product service.
package main

import (
	"phonebill/functions/product"
	"phonebill/shared/fn"
)

func main() { fn.Main(product.Service(), "product-deadletter") }

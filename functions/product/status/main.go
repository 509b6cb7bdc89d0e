// Command product-change-status serves the Knative function product-change-status of the Product service.
package main

import (
	"phonebill/functions/product"
	"phonebill/shared/fn"
)

func main() { fn.Main(product.Service(), "product-change-status") }

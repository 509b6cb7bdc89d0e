// Command product-change serves the Knative function product-change of the Product service.
package main

import (
	"phonebill/functions/product"
	"phonebill/shared/fn"
)

func main() { fn.Main(product.Service(), "product-change") }

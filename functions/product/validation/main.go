// Command product-validation serves the Knative function product-validation of the Product service.
package main

import (
	"phonebill/functions/product"
	"phonebill/shared/fn"
)

func main() { fn.Main(product.Service(), "product-validation") }

// Command product-customer serves the Knative function product-customer of the Product service.
package main

import (
	"phonebill/functions/product"
	"phonebill/shared/fn"
)

func main() { fn.Main(product.Service(), "product-customer") }

// Command product-outbox-relay serves the Knative function product-outbox-relay of the Product service.
package main

import (
	"phonebill/functions/product"
	"phonebill/shared/fn"
)

func main() { fn.Main(product.Service(), "product-outbox-relay") }

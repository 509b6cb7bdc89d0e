// Package routes is the one route table of the system: every service the
// all-in-one mounts, and the list the Knative manifests, the func.yaml files
// and the OpenAPI description are checked against.
package routes

import (
	"phonebill/functions/auth"
	"phonebill/functions/bill"
	"phonebill/functions/kosmock"
	"phonebill/functions/product"
	"phonebill/functions/retention"
	"phonebill/shared/fn"
)

// All returns every service, in mounting order.
func All() []fn.Service {
	return []fn.Service{auth.Service(), bill.Service(), product.Service(), retention.Service(), kosmock.Service()}
}

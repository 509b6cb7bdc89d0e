// Command kos-mock is the KOS-Mock function: one Knative Service serving
// every KOS-Mock route (dev profile only; a prod profile talks to a real KOS).
package main

import (
	"phonebill/functions/kosmock"
	"phonebill/shared/fn"
)

func main() { fn.Main(kosmock.Service(), "kos-mock") }

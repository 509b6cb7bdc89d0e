// Command retention-purge serves the Knative function retention-purge: rows past their retention are deleted.
package main

import (
	"phonebill/functions/retention"
	"phonebill/shared/fn"
)

func main() { fn.Main(retention.Service(), "retention-purge") }

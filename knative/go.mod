module phonebill/knative

go 1.26.8

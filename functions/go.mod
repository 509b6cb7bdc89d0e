module phonebill/functions

go 1.26.8

require (
	phonebill/shared v0.0.0
	phonebill/sql v0.0.0
)

replace phonebill/shared => ../shared

replace phonebill/sql => ../sql

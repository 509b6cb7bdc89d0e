module phonebill/sql

go 1.26.8

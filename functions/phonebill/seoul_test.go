package main

import (
	"time"

	"phonebill/shared/db"
)

func seoul() *time.Location { return db.Seoul }

// Command nurture is Terraform for B2B email lead nurture.
package main

import (
	"os"
	_ "time/tzdata" // contact time zones resolve on machines without a zone database

	"github.com/nurture-dev/nurture/cmd/nurture/cli"
)

func main() { os.Exit(cli.Main()) }

package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// capacityCommand is a placeholder until its issue lands.
func capacityCommand() *cli.Command {
	return &cli.Command{Name: "capacity", Usage: "(not yet implemented)", Action: func(*cli.Context) error {
		return errors.New("capacity: not implemented yet")
	}}
}

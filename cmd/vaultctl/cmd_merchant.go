package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/cardvault/vault/shared/client"
)

// merchantArg parses the --merchant flag of the commands on a merchant;
// extra, when set, adds the command's own flags.
func (a *app) merchantArg(cmd string, args []string, extra func(*flag.FlagSet)) (string, error) {
	flags := a.newFlagSet(cmd, "")
	merchant := flags.String("merchant", "", "merchant id (required)")
	if extra != nil {
		extra(flags)
	}
	if _, err := parse(flags, args, 0); err != nil {
		return "", err
	}
	if err := required("merchant", *merchant); err != nil {
		return "", err
	}
	return *merchant, nil
}

func runKeysRotate(ctx context.Context, a *app, args []string) error {
	var watch *bool
	merchant, err := a.merchantArg("keys rotate", args, func(x *flag.FlagSet) {
		watch = x.Bool("watch", false, "follow the re-encryption this rotation started with a progress bar until it is idle")
	})
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	st, err := c.RotateKeys(ctx, merchant)
	if err != nil {
		return err
	}
	if *watch {
		fmt.Fprintf(a.stderr, "rotated to version %d; re-encrypting older records\n", st.PrimaryVersion)
		return a.watchRotation(ctx, c, merchant)
	}
	return printJSON(a.stdout, st)
}

func runKeysStatus(ctx context.Context, a *app, args []string) error {
	var watch *bool
	merchant, err := a.merchantArg("keys status", args, func(x *flag.FlagSet) {
		watch = x.Bool("watch", false, "redraw the rotation progress every second until it is idle (Ctrl-C stops)")
	})
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if !*watch {
		st, err := c.GetKeys(ctx, merchant)
		if err != nil {
			return err
		}
		return printJSON(a.stdout, st)
	}
	return a.watchRotation(ctx, c, merchant)
}

// watchRotation polls the key status and redraws a progress bar on stderr
// until the rotation is idle, then prints the final status on stdout (so
// stdout stays clean JSON for pipes).
func (a *app) watchRotation(ctx context.Context, c *client.Client, merchant string) error {
	drawn := false
	for {
		st, err := c.GetKeys(ctx, merchant)
		if err != nil {
			if drawn {
				fmt.Fprintln(a.stderr)
			}
			return err
		}
		if st.Rotation.State != client.RotationRunning {
			if drawn {
				fmt.Fprintf(a.stderr, "\r%s\n", renderProgress(st.Rotation))
			}
			return printJSON(a.stdout, st)
		}
		fmt.Fprintf(a.stderr, "\r%s", renderProgress(st.Rotation))
		drawn = true
		timer := time.NewTimer(a.pollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			fmt.Fprintln(a.stderr)
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func runShred(ctx context.Context, a *app, args []string) error {
	var yes *bool
	merchant, err := a.merchantArg("shred", args, func(x *flag.FlagSet) {
		yes = x.Bool("yes", false, "confirm: every card and secret of the merchant becomes undecryptable, forever")
	})
	if err != nil {
		return err
	}
	if !*yes {
		return usageError("shred destroys every key of merchant %s and cannot be undone; add --yes to confirm", merchant)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.ShredMerchant(ctx, merchant); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "shredded merchant %s\n", merchant)
	return nil
}

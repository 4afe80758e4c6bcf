package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/pgpfile"
)

// runImportKey prints the vault's OpenPGP import key (no subcommand), or
// makes and rotates the key ring an AWS deployment loads into its
// secrets (generate, rotate).
func runImportKey(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "generate":
			return runImportKeyGenerate(a, args[1:])
		case "rotate":
			return runImportKeyRotate(a, args[1:])
		case "-h", "--help", "help":
			fmt.Fprintln(a.stderr, `usage: vaultctl import-key [generate|rotate]

  (none)                                   print the vault's public import key (GET /v1/import-key)
  generate --out RING --public-out PUB     a new key ring (private, mode 0600) and its public key
  rotate --file RING --public-out PUB      put a new key in front of the ring; old keys keep decrypting

In AWS, load RING into the ImportKeySecret and PUB into the
ImportPublicKeySecret (docs/deploy.md). Locally the ring is made on first
start under VAULT_LOCAL_DIR.`)
			return nil
		}
	}
	fs := a.newFlagSet("import-key", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	key, err := a.anonymousClient().ImportKey(ctx)
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(key)
	return err
}

func runImportKeyGenerate(a *app, args []string) error {
	fs := a.newFlagSet("import-key generate", "")
	out := fs.String("out", "", "private key ring file to write (required; mode 0600)")
	pub := fs.String("public-out", "", "public key file to write (required)")
	force := fs.Bool("force", false, "overwrite existing files")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("out", *out, "public-out", *pub); err != nil {
		return err
	}
	ring, err := pgpfile.GenerateKey("card vault import key", time.Now())
	if err != nil {
		return err
	}
	return writeRing(a, *out, *pub, ring.Reveal(), *force)
}

func runImportKeyRotate(a *app, args []string) error {
	fs := a.newFlagSet("import-key rotate", "")
	path := fs.String("file", "", "private key ring file to rotate in place (required)")
	pub := fs.String("public-out", "", "public key file to write (required)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("file", *path, "public-out", *pub); err != nil {
		return err
	}
	doc, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	ring, err := pgpfile.Rotate(doc, "card vault import key", time.Now())
	if err != nil {
		return err
	}
	return writeRing(a, *path, *pub, ring.Reveal(), true)
}

func writeRing(a *app, ringPath, pubPath string, doc []byte, force bool) error {
	ring, err := pgpfile.ParseKeyRing(doc, nil)
	if err != nil {
		return err
	}
	public, err := ring.PublicKey()
	if err != nil {
		return err
	}
	if err := writeSecretFile(ringPath, doc, force); err != nil {
		return err
	}
	if !force {
		if _, err := os.Stat(pubPath); err == nil {
			return fmt.Errorf("%s exists (use --force to replace it)", pubPath)
		}
	}
	if err := os.WriteFile(pubPath, public, 0o644); err != nil { // #nosec G306 G703 -- a public key, where the operator asked for it
		return err
	}
	fmt.Fprintf(a.stdout, "import key %s (%d key(s) in the ring)\n", ring.Fingerprint(), ring.Keys())
	return nil
}

// runImport starts an import: `vaultctl import start`.
func runImport(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "start" {
		return usageError("import needs a subcommand: start")
	}
	fs := a.newFlagSet("import start", "FILE.csv.gpg")
	merchant := fs.String("merchant", "", "merchant id (required)")
	format := fs.String("format", "generic", "file format: generic, stripe or spreedly")
	columns := metadataFlag{}
	fs.Var(columns, "column", "field=HEADER, overriding the format's header for a field (repeatable)")
	watch := fs.Bool("watch", false, "follow the job until it ends, with a progress bar")
	rows := fs.Int64("rows", 0, "the file's data row count, if known: the progress bar and ETA use it")
	pos, err := parse(fs, args[1:], 1)
	if err != nil {
		return err
	}
	if err := required("merchant", *merchant); err != nil {
		return err
	}
	file, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	job, err := c.ImportCards(ctx, client.ImportRequest{MerchantID: *merchant, Format: *format, Columns: columns})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "job %s: uploading %d bytes\n", job.JobID, info.Size())
	if err := c.Upload(ctx, job.Upload, file, info.Size()); err != nil {
		return err
	}
	if !*watch {
		fmt.Fprintln(a.stdout, job.JobID)
		return nil
	}
	return a.watchJob(ctx, c, *merchant, job.JobID, *rows)
}

// runJob reads jobs: `vaultctl job status|result`.
func runJob(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageError("job needs a subcommand: status or result")
	}
	switch args[0] {
	case "status":
		fs := a.newFlagSet("job status", "JOB_ID")
		merchant := fs.String("merchant", "", "merchant id (required)")
		watch := fs.Bool("watch", false, "follow the job until it ends, with a progress bar")
		rows := fs.Int64("rows", 0, "the file's data row count, if known (progress bar and ETA)")
		pos, err := parse(fs, args[1:], 1)
		if err != nil {
			return err
		}
		if err := required("merchant", *merchant); err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		if *watch {
			return a.watchJob(ctx, c, *merchant, pos[0], *rows)
		}
		job, err := c.GetJob(ctx, *merchant, pos[0])
		if err != nil {
			return err
		}
		return printJSON(a.stdout, job)
	case "result":
		fs := a.newFlagSet("job result", "JOB_ID")
		merchant := fs.String("merchant", "", "merchant id (required)")
		out := fs.String("o", "", "file to write (required): an import's mapping CSV, an export's OpenPGP file")
		pos, err := parse(fs, args[1:], 1)
		if err != nil {
			return err
		}
		if err := required("merchant", *merchant, "o", *out); err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		return a.fetchResult(ctx, c, *merchant, pos[0], *out)
	default:
		return usageError("unknown job subcommand %q (status, result)", args[0])
	}
}

// runExport exports a merchant's cards to a provider's OpenPGP key.
func runExport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("export", "")
	merchant := fs.String("merchant", "", "merchant id (required)")
	keyFile := fs.String("recipient-key", "", "the receiving provider's ASCII-armored OpenPGP public key (required)")
	customers := fs.String("customers", "", "customer ids to export, comma-separated (default: every card)")
	out := fs.String("o", "", "file to write the encrypted export to (required)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("merchant", *merchant, "recipient-key", *keyFile, "o", *out); err != nil {
		return err
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	job, err := c.ExportCards(ctx, *merchant, string(key), splitList(*customers))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "job %s: exporting\n", job.JobID)
	if err := a.watchJob(ctx, c, *merchant, job.JobID, 0); err != nil {
		return err
	}
	return a.fetchResult(ctx, c, *merchant, job.JobID, *out)
}

func (a *app) fetchResult(ctx context.Context, c *client.Client, merchant, jobID, out string) error {
	job, err := c.GetJob(ctx, merchant, jobID)
	if err != nil {
		return err
	}
	if job.State != client.JobSucceeded {
		return fmt.Errorf("job %s is %s; no result", jobID, job.State)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // #nosec G304 -- the operator's own output path
	if err != nil {
		return err
	}
	n, err := c.Download(ctx, job.Result, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "wrote %s (%d bytes)\n", out, n)
	return nil
}

// watchJob polls the job until it ends, drawing its progress. A failed
// job is an error naming its code.
func (a *app) watchJob(ctx context.Context, c *client.Client, merchant, jobID string, total int64) error {
	var (
		start    time.Time
		baseRows int64
		last     string
	)
	for {
		job, err := c.GetJob(ctx, merchant, jobID)
		if err != nil {
			return err
		}
		if start.IsZero() {
			start, baseRows = time.Now(), job.Rows
		}
		line := renderJobProgress(job, baseRows, time.Since(start), total)
		if line != last {
			// Pad over the previous line, which may have been longer.
			fmt.Fprintf(a.stderr, "\r%-*s", len(last), line)
			last = line
		}
		if job.Ended() {
			fmt.Fprintln(a.stderr)
			if job.State == client.JobFailed {
				code, msg := "", ""
				if job.Error != nil {
					code, msg = job.Error.Code, job.Error.Message
				}
				return errors.New("job failed: " + code + ": " + msg)
			}
			return printJSON(a.stdout, job)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.pollInterval):
		}
	}
}

package bucket

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/jobfiles"
)

// TestFilesNeedsTheBucketAndStartsJobsOnTheBus: the part refuses a
// function without VAULT_FILES_BUCKET, and otherwise keeps files in that
// bucket and starts job work on the vault's bus.
func TestFilesNeedsTheBucketAndStartsJobsOnTheBus(t *testing.T) {
	ctx := context.Background()
	env := func(vars map[string]string) *app.AWSEnv {
		return &app.AWSEnv{Function: app.Jobs, Config: aws.Config{Region: "eu-west-3"}, Bus: "vault-bus",
			Loader: &config.Loader{Getenv: func(k string) string { return vars[k] }}}
	}
	c := &app.Components{Now: time.Now}
	if err := Files.Load(ctx, env(nil), c); err == nil || !strings.Contains(err.Error(), "VAULT_FILES_BUCKET") || c.Files != nil {
		t.Fatalf("without a bucket: %v", err)
	}
	if err := Files.Load(ctx, env(map[string]string{"VAULT_FILES_BUCKET": "vault-files"}), c); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Files.(*jobfiles.S3); !ok {
		t.Errorf("files = %T, want the S3 adapter", c.Files)
	}
	if w, ok := c.JobWork.(app.EventJobWork); !ok || w.Bus != "vault-bus" {
		t.Errorf("job work = %#v, want events on the vault's bus", c.JobWork)
	}
	if !Files.For(app.Jobs) || !Files.For(app.Migrate) || Files.For(app.VaultCard) {
		t.Error("the bucket is for the job functions only")
	}
}

// Package bucket is the part of the job functions (jobs, migrate) that
// keeps job files in S3: only their bootstraps import it, so only they
// link the S3 client, its presigner and its upload manager.
package bucket

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/jobfiles"
)

// Files loads the job files bucket (VAULT_FILES_BUCKET) and the job work
// events, which travel on the vault's bus like every work event.
var Files = app.Part{
	Name: "job files bucket",
	For:  func(fn app.Function) bool { return fn.NeedsFiles },
	Load: func(_ context.Context, env *app.AWSEnv, c *app.Components) error {
		name := env.Loader.String("VAULT_FILES_BUCKET", "")
		if name == "" {
			return fmt.Errorf("VAULT_FILES_BUCKET is not set")
		}
		c.Files = jobfiles.NewS3(s3.NewFromConfig(env.Config), name, c.Now)
		c.JobWork = app.EventJobWork{Client: env.Events, Bus: env.Bus}
		return nil
	},
}

package localmode_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/store"
)

// A local vault stopped in the middle of an import (killed, crashed,
// closed) carries the job on from its checkpoint when it starts again,
// with nobody asking: what Lambda's retries of the job's event do in AWS.
func TestARestartedLocalVaultResumesTheJobsItWasRunning(t *testing.T) {
	const batch = 20
	dyn := &crashingDynamo{prefix: "CARD#"}
	dyn.countdown.Store(29) // in the middle of the second batch
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.StartWith(t, vaulttest.Options{JobBatchSize: batch, WrapDynamo: func(d store.DynamoAPI) store.DynamoAPI { dyn.DynamoAPI = d; return dyn }}, c)
	year := time.Now().Year() + 2
	const rows = 45
	var b strings.Builder
	b.WriteString("number,exp_month,exp_year,customer_id,reference\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "%s,%d,%d,cus_%d,ref_%d\n", luhnCard(i), 1+i%12, year, i, i)
	}
	created := createImport(t, c, "m_restart", nil)
	jobID := created.JSON["job_id"].(string)
	dyn.armed.Store(true)
	upload(t, created.JSON, pgpFile(t, importKey(t, v), b.String(), false))
	v.Env.WaitForJobs()
	if mid := getJob(t, c, "m_restart", jobID); mid.JSON["state"] != "running" || mid.JSON["rows"] != float64(batch) {
		t.Fatalf("after the crash: %s", mid.Body)
	}
	if _, err := os.Stat(filepath.Join(v.Dir, "jobs-pending", jobID)); err != nil {
		t.Fatalf("the unfinished job is not marked pending: %v", err)
	}
	settings := v.Env.Settings
	settings.DynamoDBEndpoint = v.Env.DynamoDBEndpoint()
	settings.WrapDynamo, settings.WrapAudit, settings.WrapKeyring = nil, nil, nil
	v.Env.Close()

	// The same directory and table, a new process: nobody starts the job.
	again, err := localmode.Start(context.Background(), settings, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	again.WaitForJobs()
	job, err := again.Store.Job(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != migrate.Succeeded || job.Rows != rows || job.Vaulted != rows || job.Duplicates != 0 {
		t.Fatalf("resumed job: %+v", job)
	}
	if _, err := os.Stat(filepath.Join(v.Dir, "jobs-pending", jobID)); !os.IsNotExist(err) {
		t.Fatalf("the ended job is still marked pending: %v", err)
	}
}

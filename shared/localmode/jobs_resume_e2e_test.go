package localmode_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/store"
)

// crashingDynamo fails every PutItem of one kind of item once armed and
// its countdown reaches zero, as a process killed at that point would
// leave the table: what was written stays, nothing after it happens.
type crashingDynamo struct {
	store.DynamoAPI
	prefix    string // pk prefix of the items counted
	sk        string // if set, the only sort key counted
	countdown atomic.Int64
	armed     atomic.Bool
}

var errCrash = errors.New("simulated crash")

func (d *crashingDynamo) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	sk, _ := in.Item["sk"].(*types.AttributeValueMemberS)
	if pk, ok := in.Item["pk"].(*types.AttributeValueMemberS); ok && d.armed.Load() && strings.HasPrefix(pk.Value, d.prefix) && (d.sk == "" || sk != nil && sk.Value == d.sk) {
		if d.countdown.Add(-1) < 0 {
			return nil, errCrash
		}
	}
	return d.DynamoAPI.PutItem(ctx, in, opts...)
}

// luhnCard is a Luhn-valid 16-digit Visa test number, distinct per i.
func luhnCard(i int) string {
	body := fmt.Sprintf("400000%09d", i)
	return body + string(card.LuhnCheckDigit(body))
}

func TestImportResumesAfterACrashVaultingNoRowTwice(t *testing.T) {
	const batch = 20
	for name, crash := range map[string]struct {
		prefix, sk string
		after      int64
	}{
		// Killed in the middle of the second batch's cards: some of its
		// rows are vaulted, none recorded.
		"mid-batch": {"CARD#", "", 29},
		// Killed as the second batch's tokens were being claimed (the
		// first batch's checkpoint is written meanwhile).
		"before claim": {"JOB#", "B#0000000001", 0},
		// Puts of the job's own item once armed: running (1),
		// checkpoint 0 (2), checkpoint 1 (3). Killed after the second
		// batch was vaulted and its results recorded, before the job's
		// checkpoint moved past it.
		"before checkpoint": {"JOB#", "JOB", 2},
	} {
		t.Run(name, func(t *testing.T) {
			dyn := &crashingDynamo{prefix: crash.prefix, sk: crash.sk}
			dyn.countdown.Store(crash.after)
			c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
			v := vaulttest.StartWith(t, vaulttest.Options{JobBatchSize: batch, WrapDynamo: func(d store.DynamoAPI) store.DynamoAPI { dyn.DynamoAPI = d; return dyn }}, c)
			year := time.Now().Year() + 2
			const rows = 45 // batches of 20, 20 and 5
			var b strings.Builder
			b.WriteString("number,exp_month,exp_year,customer_id,reference\n")
			for i := 0; i < rows; i++ {
				fmt.Fprintf(&b, "%s,%d,%d,cus_%d,ref_%d\n", luhnCard(i), 1+i%12, year, i%7, i)
			}
			created := createImport(t, c, "m_crash", nil)
			jobID := created.JSON["job_id"].(string)
			dyn.armed.Store(true)
			upload(t, created.JSON, pgpFile(t, importKey(t, v), b.String(), false))
			v.Env.WaitForJobs()
			mid := getJob(t, c, "m_crash", jobID)
			if mid.JSON["state"] != "running" || mid.JSON["rows"] != float64(batch) {
				t.Fatalf("after the crash: %s", mid.Body)
			}
			// Restarted: the job resumes from its checkpoint.
			dyn.armed.Store(false)
			if err := v.Env.JobWork.StartJob(context.Background(), jobID); err != nil {
				t.Fatal(err)
			}
			job := waitJob(t, v, c, "m_crash", jobID)
			if job["state"] != "succeeded" || job["rows"] != float64(rows) || job["vaulted"] != float64(rows) || job["duplicates"] != float64(0) || job["rejected"] != float64(0) {
				t.Fatalf("resumed job: %v", job)
			}
			result := readCSV(t, download(t, job))
			if len(result) != rows+1 {
				t.Fatalf("%d result rows", len(result)-1)
			}
			seen := map[string]bool{}
			for i, r := range result[1:] {
				if r[0] != fmt.Sprint(i+1) || r[1] != fmt.Sprintf("ref_%d", i) || r[3] != "vaulted" || seen[r[4]] {
					t.Fatalf("row %d: %v", i+1, r)
				}
				seen[r[4]] = true
			}
			cards := 0
			for _, item := range v.Items() {
				if pk := item["pk"].(*types.AttributeValueMemberS).Value; strings.HasPrefix(pk, "CARD#") {
					cards++
					if !seen[strings.TrimPrefix(pk, "CARD#")] {
						t.Fatalf("card %s is in no result row", pk)
					}
				}
			}
			if cards != rows {
				t.Fatalf("%d cards stored for %d rows", cards, rows)
			}
			if r := c.GetMasked(t, "m_crash", result[30][4]); r.Status != http.StatusOK {
				t.Fatalf("get_masked: %s", r.Body)
			}
		})
	}
}

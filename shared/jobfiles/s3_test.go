package jobfiles_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cardvault/vault/shared/internal/s3rver"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/vault"
)

const bucket = "card-vault-files-test"

func s3Files(t *testing.T) *jobfiles.S3 {
	t.Helper()
	srv := s3rver.ForTest(t, bucket)
	client := s3.New(s3.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s3rver.AccessKey, s3rver.SecretKey, ""),
		// s3rver predates the SDK's default flexible checksums (aws-chunked
		// trailers); real S3 accepts either.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return jobfiles.NewS3(client, bucket, time.Now)
}

const jobID = "job_AAAAAAAAAAAAAAAAAAAAAA"

func TestS3PresignedUploadIsReadBackAndDeleted(t *testing.T) {
	f := s3Files(t)
	ctx := context.Background()
	key := "uploads/" + jobID
	link, err := f.UploadLink(ctx, key, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if link.Method != http.MethodPut || !strings.Contains(link.URL, "X-Amz-Signature=") || !strings.Contains(link.URL, "X-Amz-Expires=900") {
		t.Fatalf("upload link: %+v", link)
	}
	if d := time.Until(link.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute {
		t.Fatalf("expires_at %v", link.ExpiresAt)
	}
	body := []byte("-----BEGIN PGP MESSAGE-----\nnot really\n")
	put := func(url string) int {
		req, _ := http.NewRequest(link.Method, url, bytes.NewReader(body))
		for k, v := range link.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// s3rver does not check presigned signatures: the signature itself is
	// the SDK presigner's (SigV4 for s3 in the bucket's region).
	if !strings.Contains(link.URL, "X-Amz-Credential=S3RVER%2F") || !strings.Contains(link.URL, "%2Feu-west-1%2Fs3%2Faws4_request") {
		t.Fatalf("presigned URL is not SigV4 for S3: %s", link.URL)
	}
	if code := put(link.URL); code != http.StatusOK {
		t.Fatalf("presigned PUT: %d", code)
	}
	r, err := f.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("read back %q", got)
	}
	if err := f.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, key); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("deleted upload: %v", err)
	}
	if err := f.Delete(ctx, key); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

func TestS3PutStreamsALargeResultAndPresignsItsDownload(t *testing.T) {
	f := s3Files(t)
	ctx := context.Background()
	key := "results/" + jobID + ".csv.gpg"
	// Over one 8 MiB part: a multipart upload, from a reader that cannot
	// seek (a pipe, as the worker streams).
	data := make([]byte, 9<<20+123)
	_, _ = rand.Read(data)
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(data); off += 64 << 10 {
			end := min(off+64<<10, len(data))
			if _, err := pw.Write(data[off:end]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	if err := f.Put(ctx, key, pr); err != nil {
		t.Fatal(err)
	}
	link, err := f.DownloadLink(ctx, key, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("download: %d, %d bytes (want %d)", resp.StatusCode, len(got), len(data))
	}
	if _, err := f.Open(ctx, "results/"+jobID+".csv"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
}

// TestS3PutThatFailsMidwayLeavesNoResult: a stream that fails after its
// first part (a multipart upload under way) fails Put, and the upload is
// aborted: no object is left under the key.
func TestS3PutThatFailsMidwayLeavesNoResult(t *testing.T) {
	f := s3Files(t)
	ctx := context.Background()
	key := "results/" + jobID + ".failed.csv.gpg"
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for written := 0; written < 9<<20; written += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.CloseWithError(errors.New("the export's stream broke"))
	}()
	if err := f.Put(ctx, key, pr); err == nil {
		t.Fatal("a broken stream was stored")
	}
	if _, err := f.Open(ctx, key); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a failed upload left an object: %v", err)
	}
	if err := f.Delete(ctx, key); err != nil {
		t.Fatalf("deleting what a failed upload left: %v", err)
	}
}

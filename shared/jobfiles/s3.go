// Package jobfiles keeps the files of import and export jobs: in an S3
// bucket in AWS (presigned URLs from the SDK's own presigner), in a
// directory locally (URLs the local server signs and serves). Only
// encrypted files (uploads, exports) and import mappings, which hold no
// card number, are ever stored.
package jobfiles

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// S3API is the part of *s3.Client the adapter uses directly.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// S3 keeps job files in one bucket. The bucket encrypts every object
// with its own KMS key by default (SSE-KMS), so neither uploads nor
// results name a key: an upload through a presigned URL needs no extra
// header, and the bucket policy refuses plain HTTP.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	//lint:ignore SA1019 manager.Uploader streams a result of unknown length in bounded parts; moving to feature/s3/transfermanager is a change of its own
	uploader *manager.Uploader
	bucket   string
	now      func() time.Time
}

var _ migrate.Files = (*S3)(nil)

// NewS3 builds the adapter over client and bucket.
func NewS3(client *s3.Client, bucket string, now func() time.Time) *S3 {
	if now == nil {
		now = time.Now
	}
	return &S3{
		client:  client,
		presign: s3.NewPresignClient(client),
		// Parts of 8 MiB, two at a time: a result streams out with at most
		// some 16 MiB in flight, whatever its size.
		//lint:ignore SA1019 manager.Uploader streams a result of unknown length in bounded parts; moving to feature/s3/transfermanager is a change of its own
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = 8 << 20
			u.Concurrency = 2
		}),
		bucket: bucket,
		now:    now,
	}
}

// UploadLink implements migrate.Files: a presigned PUT.
func (f *S3) UploadLink(ctx context.Context, key string, ttl time.Duration) (migrate.Link, error) {
	req, err := f.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return migrate.Link{}, vaulterr.Wrap(vaulterr.Unavailable, "file storage unavailable", err)
	}
	return link(req.URL, req.Method, req.SignedHeader, f.now().Add(ttl)), nil
}

// DownloadLink implements migrate.Files: a presigned GET.
func (f *S3) DownloadLink(ctx context.Context, key string, ttl time.Duration) (migrate.Link, error) {
	req, err := f.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return migrate.Link{}, vaulterr.Wrap(vaulterr.Unavailable, "file storage unavailable", err)
	}
	return link(req.URL, req.Method, req.SignedHeader, f.now().Add(ttl)), nil
}

// link keeps the signed headers a client must send, leaving out Host,
// which every HTTP client sets from the URL.
func link(url, method string, signed map[string][]string, expires time.Time) migrate.Link {
	headers := map[string]string{}
	for name, values := range signed {
		if len(values) == 0 || http1Host(name) {
			continue
		}
		headers[name] = values[0]
	}
	return migrate.Link{URL: url, Method: method, Headers: headers, ExpiresAt: expires.UTC()}
}

func http1Host(name string) bool { return name == "Host" || name == "host" }

// Open implements migrate.Files.
func (f *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := f.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) || errorCode(err) == "NoSuchKey" {
			return nil, vault.ErrNotFound
		}
		return nil, vaulterr.Wrap(vaulterr.Unavailable, "file storage unavailable", sanitize("GetObject", err))
	}
	return out.Body, nil
}

// Put implements migrate.Files: a streamed (multipart when large) upload.
func (f *S3) Put(ctx context.Context, key string, body io.Reader) error {
	//lint:ignore SA1019 manager.Uploader streams a result of unknown length in bounded parts; moving to feature/s3/transfermanager is a change of its own
	_, err := f.uploader.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: body})
	if err != nil {
		return vaulterr.Wrap(vaulterr.Unavailable, "file storage unavailable", sanitize("PutObject", err))
	}
	return nil
}

// Delete implements migrate.Files; S3 answers a missing key with success.
func (f *S3) Delete(ctx context.Context, key string) error {
	_, err := f.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		return vaulterr.Wrap(vaulterr.Unavailable, "file storage unavailable", sanitize("DeleteObject", err))
	}
	return nil
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// sanitize keeps an S3 failure's operation and error code for the logs,
// never the service's message.
func sanitize(op string, err error) error {
	if code := errorCode(err); code != "" {
		return errors.New("s3 " + op + ": " + code)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errors.New("s3 " + op + ": " + err.Error())
	}
	return errors.New("s3 " + op + ": request failed")
}

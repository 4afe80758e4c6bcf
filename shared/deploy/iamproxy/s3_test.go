package iamproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestS3RequestsOfTheRESTProtocol(t *testing.T) {
	w := Where{Region: "eu-west-1", Account: "1", Buckets: map[string]Bucket{"files": {KeyARN: "arn:aws:kms:eu-west-1:1:key/f"}}}
	cases := []struct {
		method, target, copySource string
		op, action                 string
		kms                        []string
	}{
		{"GET", "/files/results/a.csv", "", "GetObject", "s3:GetObject", []string{"kms:Decrypt"}},
		{"HEAD", "/files/results/a.csv", "", "HeadObject", "s3:GetObject", []string{"kms:Decrypt"}},
		{"PUT", "/files/uploads/j?X-Amz-Credential=K%2F20261122%2Feu-west-1%2Fs3%2Faws4_request", "", "PutObject", "s3:PutObject", []string{"kms:GenerateDataKey"}},
		{"POST", "/files/results/a.csv?uploads", "", "CreateMultipartUpload", "s3:PutObject", []string{"kms:GenerateDataKey"}},
		{"PUT", "/files/results/a.csv?partNumber=1&uploadId=u", "", "UploadPart", "s3:PutObject", []string{"kms:Decrypt"}},
		{"POST", "/files/results/a.csv?uploadId=u", "", "CompleteMultipartUpload", "s3:PutObject", []string{"kms:Decrypt"}},
		{"DELETE", "/files/results/a.csv?uploadId=u", "", "AbortMultipartUpload", "s3:AbortMultipartUpload", nil},
		{"DELETE", "/files/uploads/j", "", "DeleteObject", "s3:DeleteObject", nil},
		{"GET", "/files/results/a.csv?uploadId=u", "", "ListParts", "s3:ListMultipartUploadParts", nil},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		got, err := parseS3(r)
		if err != nil || got.Operation != c.op || got.Bucket != "files" {
			t.Errorf("%s %s: %+v %v, want %s", c.method, c.target, got, err, c.op)
			continue
		}
		reqs := w.s3Requests(got)
		object := "arn:aws:s3:::files/" + got.Key
		if reqs[0].Action != c.action || reqs[0].Resource != object {
			t.Errorf("%s: %s, want %s on %s", c.op, reqs[0], c.action, object)
		}
		if len(reqs)-1 != len(c.kms) {
			t.Errorf("%s: %d KMS requests, want %v", c.op, len(reqs)-1, c.kms)
			continue
		}
		for i, a := range c.kms {
			k := reqs[i+1]
			if k.Action != a || k.Resource != "arn:aws:kms:eu-west-1:1:key/f" || k.Context["kms:ViaService"][0] != "s3.eu-west-1.amazonaws.com" {
				t.Errorf("%s: %s, want %s on the bucket's key through S3", c.op, k, a)
			}
		}
	}
	for _, c := range []struct{ method, target string }{
		{"GET", "/files"},         // ListObjects
		{"PUT", "/files"},         // CreateBucket
		{"DELETE", "/files/"},     // DeleteBucket
		{"PATCH", "/files/a.csv"}, // nothing
	} {
		if got, err := parseS3(httptest.NewRequest(c.method, c.target, nil)); err == nil {
			t.Errorf("%s %s is not emulated, but was read as %s", c.method, c.target, got.Operation)
		}
	}
	copyReq := httptest.NewRequest("PUT", "/files/results/b", nil)
	copyReq.Header.Set("X-Amz-Copy-Source", "/files/uploads/j")
	if _, err := parseS3(copyReq); err == nil {
		t.Error("CopyObject is not emulated, but was not refused")
	}
}

func TestS3IsToldApartByItsCredentialScope(t *testing.T) {
	header := httptest.NewRequest("GET", "/files/k", nil)
	header.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=LOCALMIGRATE/20261122/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=00")
	presigned := httptest.NewRequest("PUT", "/files/k?X-Amz-Credential=LOCALJOBS%2F20261122%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=00", nil)
	jsonProtocol := httptest.NewRequest("POST", "/", nil)
	jsonProtocol.Header.Set("X-Amz-Target", "TrentService.Decrypt")
	jsonProtocol.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=LOCALMIGRATE/20261122/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature=00")
	if !isS3(header) || !isS3(presigned) || isS3(jsonProtocol) {
		t.Fatalf("isS3: header %v, presigned %v, JSON protocol %v", isS3(header), isS3(presigned), isS3(jsonProtocol))
	}
	if got := strings.SplitN(credentialOf(presigned), "/", 2)[0]; got != "LOCALJOBS" {
		t.Fatalf("presigned principal %q", got)
	}
}

func TestAWSChunkedBodiesAreDecoded(t *testing.T) {
	h := http.Header{"Content-Encoding": {"aws-chunked"}}
	body := "5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
	got, err := decodeAWSChunked(h, []byte(body))
	if err != nil || string(got) != "hello world" {
		t.Fatalf("decoded %q, %v", got, err)
	}
	if _, err := decodeAWSChunked(h, []byte("5\r\nhel")); err == nil {
		t.Fatal("a cut chunk was accepted")
	}
	if got, _ := decodeAWSChunked(http.Header{}, []byte("plain")); string(got) != "plain" {
		t.Fatalf("a plain body changed: %q", got)
	}
}

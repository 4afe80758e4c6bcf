package iamproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cardvault/vault/shared/deploy/iampolicy"
)

// S3 names the S3 stand-in among the upstreams. S3 speaks its REST
// protocol rather than AWS JSON: path-style /bucket/key, the operation
// told by method and query, the principal by the SigV4 credential of the
// Authorization header or, for a presigned URL, of X-Amz-Credential.
const S3 = "s3"

// Bucket is what the proxy must know of a bucket: the KMS key of its
// default encryption (SSE-KMS), which S3 uses on the caller's behalf and
// with the caller's permissions (kms:ViaService s3.<region>.amazonaws.com).
type Bucket struct {
	KeyARN string
	// BucketKey: S3 Bucket Keys are on, so S3 asks KMS with the bucket's
	// ARN as encryption context rather than the object's.
	BucketKey bool
}

// s3Call is one S3 REST request: its operation and what it acts on.
type s3Call struct {
	Operation string // GetObject, PutObject, ...
	Bucket    string
	Key       string
}

// parseS3 reads the operation of a path-style object request. Bucket-level
// operations are not used by the vault and are not emulated.
func parseS3(r *http.Request) (s3Call, error) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if bucket == "" || key == "" {
		return s3Call{}, fmt.Errorf("s3: %s %s is not an object request (bucket operations are not emulated)", r.Method, r.URL.Path)
	}
	q := r.URL.Query()
	_, upload := q["uploadId"]
	_, uploads := q["uploads"]
	c := s3Call{Bucket: bucket, Key: key}
	switch {
	case r.Method == http.MethodGet && upload:
		c.Operation = "ListParts"
	case r.Method == http.MethodGet:
		c.Operation = "GetObject"
	case r.Method == http.MethodHead:
		c.Operation = "HeadObject"
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		return s3Call{}, fmt.Errorf("s3: CopyObject / UploadPartCopy are not emulated")
	case r.Method == http.MethodPut && upload:
		c.Operation = "UploadPart"
	case r.Method == http.MethodPut:
		c.Operation = "PutObject"
	case r.Method == http.MethodPost && uploads:
		c.Operation = "CreateMultipartUpload"
	case r.Method == http.MethodPost && upload:
		c.Operation = "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && upload:
		c.Operation = "AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		c.Operation = "DeleteObject"
	default:
		return s3Call{}, fmt.Errorf("s3: %s %s is not emulated", r.Method, r.URL.Path)
	}
	return c, nil
}

// s3Actions maps each operation to the IAM action S3 authorizes it with,
// and to what S3 itself asks of KMS for an SSE-KMS bucket.
var s3Actions = map[string]struct {
	action string
	kms    []string
}{
	"GetObject":               {"s3:GetObject", []string{"kms:Decrypt"}},
	"HeadObject":              {"s3:GetObject", []string{"kms:Decrypt"}},
	"PutObject":               {"s3:PutObject", []string{"kms:GenerateDataKey"}},
	"CreateMultipartUpload":   {"s3:PutObject", []string{"kms:GenerateDataKey"}},
	"UploadPart":              {"s3:PutObject", []string{"kms:Decrypt"}},
	"CompleteMultipartUpload": {"s3:PutObject", []string{"kms:Decrypt"}},
	"ListParts":               {"s3:ListMultipartUploadParts", nil},
	"AbortMultipartUpload":    {"s3:AbortMultipartUpload", nil},
	"DeleteObject":            {"s3:DeleteObject", nil},
}

// s3Requests are the IAM requests of an S3 call: the object action on
// arn:aws:s3:::bucket/key and, for a bucket encrypted with a KMS key,
// the key actions S3 makes with the caller's permissions.
func (w Where) s3Requests(c s3Call) []iampolicy.Request {
	a := s3Actions[c.Operation]
	object := "arn:aws:s3:::" + c.Bucket + "/" + c.Key
	out := []iampolicy.Request{{Action: a.action, Resource: object}}
	if b, ok := w.Buckets[c.Bucket]; ok && b.KeyARN != "" {
		context := object
		if b.BucketKey {
			context = "arn:aws:s3:::" + c.Bucket
		}
		ctx := map[string][]string{
			"kms:ViaService":                   {"s3." + w.Region + ".amazonaws.com"},
			"kms:CallerAccount":                {w.Account},
			"kms:EncryptionContext:aws:s3:arn": {context},
			"kms:EncryptionContextKeys":        {"aws:s3:arn"},
		}
		for _, action := range a.kms {
			out = append(out, iampolicy.Request{Action: action, Resource: b.KeyARN, Context: ctx})
		}
	}
	return out
}

// isS3 tells an S3 REST request (SigV4 for service s3, in the header or
// in a presigned URL's query) from an AWS JSON protocol one.
func isS3(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	return strings.Contains(credentialOf(r), "/s3/aws4_request")
}

// credentialOf is the request's SigV4 credential scope,
// "<key id>/<date>/<region>/<service>/aws4_request".
func credentialOf(r *http.Request) string {
	if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		return c
	}
	_, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ := strings.Cut(rest, ",")
	return strings.TrimSpace(scope)
}

func (p *Proxy) serveS3(w http.ResponseWriter, r *http.Request) {
	call := Call{Operation: "S3"}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		p.refuseS3(w, call, http.StatusBadRequest, "IncorrectLength", "the request body cannot be read")
		return
	}
	principal, ok := p.principalNamed(strings.SplitN(credentialOf(r), "/", 2)[0])
	if !ok {
		p.refuseS3(w, call, http.StatusForbidden, "InvalidAccessKeyId", "the AWS access key id does not exist in our records")
		return
	}
	call.Function = principal.Function
	upstream, ok := p.upstreams[S3]
	if !ok {
		p.refuseS3(w, call, http.StatusBadRequest, "NotImplemented", "no stand-in serves S3")
		return
	}
	c, err := parseS3(r)
	if err != nil {
		p.refuseS3(w, call, http.StatusForbidden, "AccessDenied", "the proxy cannot authorize this call: "+err.Error())
		return
	}
	call.Operation = "S3." + c.Operation
	var denied *iampolicy.Request
	for _, req := range p.where.s3Requests(c) {
		d := principal.Policy.Evaluate(req)
		call.Checks = append(call.Checks, Check{Request: req, Decision: d})
		if !d.Allowed && denied == nil {
			denied = &req
		}
	}
	if denied != nil {
		p.refuseS3(w, call, http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s",
			principal.RoleARN+"/"+principal.Function, denied.Action, denied.Resource))
		return
	}
	if body, err = decodeAWSChunked(r.Header, body); err != nil {
		p.refuseS3(w, call, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	resp, err := p.forwardS3(r, upstream, body)
	if err != nil {
		p.refuseS3(w, call, http.StatusInternalServerError, "InternalError", "the stand-in did not answer: "+err.Error())
		return
	}
	defer resp.Body.Close()
	call.Status = resp.StatusCode
	p.record(call)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // #nosec G705 -- the stand-in's answer, relayed as is to the SDK client that asked
}

// forwardS3 sends the call to the stand-in, signed afresh with the
// stand-in's own credentials (the caller signed for the proxy): the
// caller's signature, presigned query and checksum trailer are dropped.
func (p *Proxy) forwardS3(r *http.Request, upstream string, body []byte) (*http.Response, error) {
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			q.Del(k)
		}
	}
	target := strings.TrimRight(upstream, "/") + r.URL.EscapedPath()
	if enc := q.Encode(); enc != "" {
		// S3's flag parameters (?uploads) have no value.
		target += "?" + strings.ReplaceAll(enc, "uploads=", "uploads")
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body)) // #nosec G704 -- target is the S3 stand-in the proxy was built with, on loopback
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		switch strings.ToLower(k) {
		case "authorization", "host", "content-length", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
			"x-amz-decoded-content-length", "x-amz-trailer", "content-encoding", "expect":
			continue
		}
		out.Header[k] = vs
	}
	if enc := strings.TrimSpace(strings.ReplaceAll(r.Header.Get("Content-Encoding"), "aws-chunked", "")); strings.Trim(enc, ", ") != "" {
		out.Header.Set("Content-Encoding", strings.Trim(enc, ", "))
	}
	out.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	out.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), p.s3Credentials, out, hash, "s3", p.where.Region, time.Now()); err != nil {
		return nil, err
	}
	return p.client.Do(out) // #nosec G704 -- to the S3 stand-in only
}

// SignS3With sets the credentials the S3 stand-in accepts.
func (p *Proxy) SignS3With(accessKeyID, secretAccessKey string) {
	p.s3Credentials = aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}
}

// decodeAWSChunked returns the payload of an aws-chunked body (the SDK's
// streaming uploads with a checksum trailer): the chunks' data, without
// their sizes, signatures and trailer.
func decodeAWSChunked(h http.Header, body []byte) ([]byte, error) {
	if !strings.Contains(h.Get("Content-Encoding"), "aws-chunked") {
		return body, nil
	}
	rd := bufio.NewReader(bytes.NewReader(body))
	var out bytes.Buffer
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("s3: aws-chunked body cut short")
		}
		sizeHex, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
		if err != nil || size < 0 || size > maxBody {
			return nil, fmt.Errorf("s3: aws-chunked chunk size %q", sizeHex)
		}
		if size == 0 {
			return out.Bytes(), nil // the trailer follows
		}
		if _, err := io.CopyN(&out, rd, size); err != nil {
			return nil, fmt.Errorf("s3: aws-chunked chunk cut short")
		}
		if _, err := rd.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("s3: aws-chunked chunk cut short")
		}
	}
}

// refuseS3 answers as S3 does, with an XML error.
func (p *Proxy) refuseS3(w http.ResponseWriter, call Call, status int, code, msg string) {
	if call.Refused == "" && len(call.Checks) == 0 {
		call.Refused = code + ": " + msg
	}
	call.Status = status
	p.record(call)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", fmt.Sprintf("iamproxy-%d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

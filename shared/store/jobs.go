package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

var _ migrate.JobStore = (*Store)(nil)

// Job items: a job and its batches share the job's partition, keyed by
// the job's random id (never by merchant, so a merchant's many jobs are
// spread like its cards).
const (
	jobPrefix = "JOB#"
	jobSK     = "JOB"
	batchPfx  = "B#"
)

func jobPK(jobID string) string { return jobPrefix + keyPart(jobID) }

func batchSK(index int) string { return fmt.Sprintf("%s%010d", batchPfx, index) }

type jobItem struct {
	PK           string            `dynamodbav:"pk"`
	SK           string            `dynamodbav:"sk"`
	JobID        string            `dynamodbav:"job_id"`
	MerchantID   string            `dynamodbav:"merchant_id"`
	ClientID     string            `dynamodbav:"client_id,omitempty"`
	Kind         string            `dynamodbav:"kind"`
	State        string            `dynamodbav:"state"`
	Format       string            `dynamodbav:"format,omitempty"`
	Columns      map[string]string `dynamodbav:"columns,omitempty"`
	TokenFormat  string            `dynamodbav:"token_format,omitempty"`
	RecipientKey string            `dynamodbav:"recipient_key,omitempty"`
	CustomerIDs  []string          `dynamodbav:"customer_ids,omitempty"`
	Rows         int               `dynamodbav:"rows"`
	Vaulted      int               `dynamodbav:"vaulted"`
	Duplicates   int               `dynamodbav:"duplicates"`
	Rejected     int               `dynamodbav:"rejected"`
	Offset       int               `dynamodbav:"row_offset"`
	Batches      int               `dynamodbav:"batches"`
	ErrorCode    string            `dynamodbav:"error_code,omitempty"`
	ErrorMessage string            `dynamodbav:"error_message,omitempty"`
	CreatedAt    string            `dynamodbav:"created_at"`
	UpdatedAt    string            `dynamodbav:"updated_at"`
	Revision     int64             `dynamodbav:"revision"`
	Attempt      []byte            `dynamodbav:"attempt"`
	TTL          int64             `dynamodbav:"ttl"`
}

func toJobItem(j migrate.Job, revision int64, attempt []byte) jobItem {
	it := jobItem{
		PK: jobPK(j.ID), SK: jobSK, JobID: j.ID, MerchantID: j.MerchantID, ClientID: j.ClientID,
		Kind: string(j.Kind), State: string(j.State), Format: j.Format, Columns: j.Columns,
		TokenFormat: j.TokenFormat, RecipientKey: j.RecipientKey, CustomerIDs: j.CustomerIDs,
		Rows: j.Rows, Vaulted: j.Vaulted, Duplicates: j.Duplicates, Rejected: j.Rejected,
		Offset: j.Offset, Batches: j.Batches,
		CreatedAt: formatTime(j.CreatedAt), UpdatedAt: formatTime(j.UpdatedAt),
		Revision: revision, Attempt: attempt,
		TTL: j.CreatedAt.Add(migrate.JobRetention).Unix(),
	}
	if j.Error != nil {
		it.ErrorCode, it.ErrorMessage = j.Error.Code, j.Error.Message
	}
	return it
}

func (it jobItem) job() (migrate.Job, error) {
	j := migrate.Job{
		ID: it.JobID, MerchantID: it.MerchantID, ClientID: it.ClientID,
		Kind: migrate.Kind(it.Kind), State: migrate.State(it.State), Format: it.Format, Columns: it.Columns,
		TokenFormat: it.TokenFormat, RecipientKey: it.RecipientKey, CustomerIDs: it.CustomerIDs,
		Rows: it.Rows, Vaulted: it.Vaulted, Duplicates: it.Duplicates, Rejected: it.Rejected,
		Offset: it.Offset, Batches: it.Batches, Revision: it.Revision,
	}
	if it.ErrorCode != "" {
		j.Error = &migrate.JobError{Code: it.ErrorCode, Message: it.ErrorMessage}
	}
	var err error
	if j.CreatedAt, err = parseTime(it.CreatedAt); err != nil {
		return j, err
	}
	j.UpdatedAt, err = parseTime(it.UpdatedAt)
	return j, err
}

func newAttempt() []byte {
	var a [16]byte
	_, _ = rand.Read(a[:]) // crypto/rand.Read never fails (Go 1.24+)
	return a[:]
}

// CreateJob stores a new job at revision 1 unless its id exists. A retry
// of the same put (its answer lost) meets its own attempt and succeeds.
func (s *Store) CreateJob(ctx context.Context, j migrate.Job) error {
	attempt := newAttempt()
	item, err := attributevalue.MarshalMap(toJobItem(j, 1, attempt))
	if err != nil {
		return corrupt("job", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #att = :att"),
		ExpressionAttributeNames:  map[string]string{"#att": "attempt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":att": &types.AttributeValueMemberB{Value: attempt}},
	})
	return conditional("PutItem", err, vault.ErrConflict)
}

// Job reads a job, strongly consistent.
func (s *Store) Job(ctx context.Context, jobID string) (migrate.Job, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(jobPK(jobID), jobSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return migrate.Job{}, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return migrate.Job{}, vault.ErrNotFound
	}
	var it jobItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return migrate.Job{}, corrupt("job", err)
	}
	j, err := it.job()
	if err != nil {
		return migrate.Job{}, corrupt("job", err)
	}
	return j, nil
}

// SaveJob writes j with revision j.Revision+1 if the stored revision is
// still j.Revision (or the stored attempt is this save's own retry).
func (s *Store) SaveJob(ctx context.Context, j migrate.Job) error {
	if j.ID == "" || j.Revision < 1 {
		return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("store: job without id or revision"))
	}
	attempt := newAttempt()
	item, err := attributevalue.MarshalMap(toJobItem(j, j.Revision+1, attempt))
	if err != nil {
		return corrupt("job", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("#rev = :rev OR #att = :att"),
		ExpressionAttributeNames: map[string]string{"#rev": "revision", "#att": "attempt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":rev": &types.AttributeValueMemberN{Value: fmt.Sprint(j.Revision)},
			":att": &types.AttributeValueMemberB{Value: attempt},
		},
	})
	return conditional("PutItem", err, vault.ErrConflict)
}

type batchItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	// TokenList is the batch's tokens, one a line: one binary attribute
	// rather than a list of hundreds, which the table would otherwise
	// parse and check element by element on the claim and again on the
	// results' update. Tokens is the list an older vault wrote, still
	// read for the batches of a job begun before the change.
	TokenList []byte   `dynamodbav:"token_list,omitempty"`
	Tokens    []string `dynamodbav:"tokens,omitempty"`
	Results   []byte   `dynamodbav:"results,omitempty"`
	Attempt   []byte   `dynamodbav:"attempt"`
	TTL       int64    `dynamodbav:"ttl"`
}

// ClaimBatch stores the batch's tokens unless the batch exists, then
// returns what is stored. The put's condition makes the first run's
// tokens the batch's tokens for good; an SDK retry of the put meets its
// own attempt.
func (s *Store) ClaimBatch(ctx context.Context, jobID string, index int, tokens []string) (migrate.Batch, error) {
	attempt := newAttempt()
	item, err := attributevalue.MarshalMap(batchItem{
		PK: jobPK(jobID), SK: batchSK(index), TokenList: []byte(strings.Join(tokens, "\n")), Attempt: attempt,
		TTL: s.now().Add(migrate.JobRetention).Unix(),
	})
	if err != nil {
		return migrate.Batch{}, corrupt("job batch", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #att = :att"),
		ExpressionAttributeNames:  map[string]string{"#att": "attempt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":att": &types.AttributeValueMemberB{Value: attempt}},
	})
	if err = conditional("PutItem", err, vault.ErrConflict); err == nil {
		return migrate.Batch{Tokens: tokens}, nil
	} else if !errors.Is(err, vault.ErrConflict) {
		return migrate.Batch{}, err
	}
	b, err := s.batch(ctx, jobID, index)
	if errors.Is(err, vault.ErrNotFound) {
		return migrate.Batch{}, vaulterr.New(vaulterr.Unavailable, "job batch kept changing; retry")
	}
	return b, err
}

func (s *Store) batch(ctx context.Context, jobID string, index int) (migrate.Batch, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(jobPK(jobID), batchSK(index)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return migrate.Batch{}, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return migrate.Batch{}, vault.ErrNotFound
	}
	var it batchItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return migrate.Batch{}, corrupt("job batch", err)
	}
	tokens := it.Tokens
	if len(it.TokenList) > 0 {
		tokens = strings.Split(string(it.TokenList), "\n")
	}
	return migrate.Batch{Tokens: tokens, Results: it.Results}, nil
}

// SaveBatchResults records a batch's result lines on its claimed item.
func (s *Store) SaveBatchResults(ctx context.Context, jobID string, index int, results []byte) error {
	if results == nil {
		results = []byte{}
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(jobPK(jobID), batchSK(index)),
		UpdateExpression:          aws.String("SET #res = :res"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#res": "results"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":res": &types.AttributeValueMemberB{Value: results}},
	})
	return conditional("UpdateItem", err, vault.ErrNotFound)
}

// BatchResults reads a done batch's result lines.
func (s *Store) BatchResults(ctx context.Context, jobID string, index int) ([]byte, error) {
	b, err := s.batch(ctx, jobID, index)
	if err != nil {
		return nil, err
	}
	if b.Results == nil {
		return nil, vault.ErrNotFound
	}
	return b.Results, nil
}

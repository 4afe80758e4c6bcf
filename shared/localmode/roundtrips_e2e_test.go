package localmode_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/store"
)

// writeLog records the partition key of every PutItem the store makes.
type writeLog struct {
	store.DynamoAPI
	mu   sync.Mutex
	puts []string
}

func (w *writeLog) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item["pk"].(*types.AttributeValueMemberS); ok {
		w.mu.Lock()
		w.puts = append(w.puts, pk.Value)
		w.mu.Unlock()
	}
	return w.DynamoAPI.PutItem(ctx, in, opts...)
}

func (w *writeLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	puts := w.puts
	w.puts = nil
	return puts
}

// A warm duplicate is found by reading the index, not by losing a claim:
// its only writes are its request id and the card's update.
func TestWarmDuplicateWritesNoIndexClaim(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	log := &writeLog{}
	vaulttest.StartWith(t, vaulttest.Options{WrapDynamo: func(d store.DynamoAPI) store.DynamoAPI {
		log.DynamoAPI = d
		return log
	}}, c)
	claims := map[string]any{"customer_id": "c_dup", "card": testCard(testPAN)}
	first := c.VaultCard(t, "m_dup", claims, jose.ECDH_ES_A256KW)
	if first.Status != http.StatusCreated {
		t.Fatalf("vault_card: %d %s", first.Status, first.Body)
	}
	log.take()
	again := c.VaultCard(t, "m_dup", claims, jose.ECDH_ES_A256KW)
	if again.Status != http.StatusOK || again.JSON["duplicate"] != true || again.JSON["token"] != first.JSON["token"] {
		t.Fatalf("second vault_card: %d %s", again.Status, again.Body)
	}
	puts := log.take()
	var kinds []string
	for _, pk := range puts {
		kind, _, _ := strings.Cut(pk, "#")
		kinds = append(kinds, kind)
	}
	if strings.Join(kinds, ",") != "JTI,CARD" {
		t.Fatalf("a warm duplicate put %v, want its request id then the card (no index claim)", puts)
	}
}

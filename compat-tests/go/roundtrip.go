// sarama (Debian's golang-github-shopify-sarama-dev), unchanged, against an
// rdmq gateway. Usage: roundtrip BOOTSTRAP TOPIC
//
// Creates TOPIC with 3 partitions through the cluster admin, produces 30
// keyed messages with a header through an idempotent producer (snappy, then
// zstd), consumes them in a consumer group that marks and commits every
// message, and prints one JSON line with what it saw; the test checks it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type received struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Header    string `json:"header"`
}

type handler struct {
	mu     sync.Mutex
	got    []received
	want   int
	done   chan struct{}
	closed bool
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		header := ""
		for _, rh := range m.Headers {
			if string(rh.Key) == "origin" {
				header = string(rh.Value)
			}
		}
		session.MarkMessage(m, "")
		h.mu.Lock()
		h.got = append(h.got, received{m.Partition, m.Offset, string(m.Key), string(m.Value), header})
		if len(h.got) == h.want && !h.closed {
			h.closed = true
			close(h.done)
		}
		h.mu.Unlock()
	}
	return nil
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	bootstrap, topic := []string{os.Args[1]}, os.Args[2]
	cfg := sarama.NewConfig()
	cfg.ClientID = "compat-sarama"
	cfg.Version = sarama.V2_1_0_0

	admin, err := sarama.NewClusterAdmin(bootstrap, cfg)
	must(err, "cluster admin")
	must(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false), "create topic")
	topics, err := admin.ListTopics()
	must(err, "list topics")
	must(admin.Close(), "close admin")

	var sent []string
	for _, codec := range []sarama.CompressionCodec{sarama.CompressionSnappy, sarama.CompressionZSTD} {
		pcfg := sarama.NewConfig()
		pcfg.ClientID = "compat-sarama"
		pcfg.Version = sarama.V2_1_0_0
		pcfg.Producer.Return.Successes = true
		pcfg.Producer.RequiredAcks = sarama.WaitForAll
		pcfg.Producer.Idempotent = true
		pcfg.Producer.Retry.Max = 5
		pcfg.Net.MaxOpenRequests = 1
		pcfg.Producer.Compression = codec
		producer, err := sarama.NewSyncProducer(bootstrap, pcfg)
		must(err, "producer")
		for i := 0; i < 15; i++ {
			value := fmt.Sprintf("%s-%d", codec, i)
			_, _, err := producer.SendMessage(&sarama.ProducerMessage{
				Topic:   topic,
				Key:     sarama.StringEncoder(fmt.Sprintf("k%d", i)),
				Value:   sarama.StringEncoder(value),
				Headers: []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("go")}},
			})
			must(err, "send")
			sent = append(sent, value)
		}
		must(producer.Close(), "close producer")
	}

	ccfg := sarama.NewConfig()
	ccfg.ClientID = "compat-sarama"
	ccfg.Version = sarama.V2_1_0_0
	ccfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	ccfg.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	group, err := sarama.NewConsumerGroup(bootstrap, topic+"-group", ccfg)
	must(err, "consumer group")
	h := &handler{want: len(sent), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "consume: %v\n", err)
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		fmt.Fprintf(os.Stderr, "only %d of %d messages\n", len(h.got), len(sent))
		os.Exit(1)
	}
	cancel()
	must(group.Close(), "close group") // commits what was marked

	client, err := sarama.NewClient(bootstrap, cfg)
	must(err, "client")
	offsets, err := sarama.NewOffsetManagerFromClient(topic+"-group", client)
	must(err, "offset manager")
	committed := map[int32]int64{}
	for p := int32(0); p < 3; p++ {
		pom, err := offsets.ManagePartition(topic, p)
		must(err, "manage partition")
		committed[p], _ = pom.NextOffset()
		must(pom.Close(), "close partition offsets")
	}
	must(offsets.Close(), "close offsets")
	must(client.Close(), "close client")

	_, listed := topics[topic]
	out, _ := json.Marshal(map[string]interface{}{"listed": listed, "sent": sent, "received": h.got, "committed": committed})
	fmt.Println(string(out))
}

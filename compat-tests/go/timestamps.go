// sarama (Debian's golang-github-shopify-sarama-dev), unchanged, asks an rdmq
// gateway which offset a timestamp falls on. Usage: timestamps BOOTSTRAP TOPIC
//
// Creates TOPIC with 3 partitions, then for every codec sends one batch of
// keyed messages with a header and explicit, rising timestamps (sarama leaves
// the batch's MaxTimestamp unset: the broker must read the records), and asks
// ListOffsets for timestamp 0, for a timestamp in the middle of the data and
// for one past its end on every partition. Prints one JSON line; the test
// computes what Apache Kafka would answer from the acknowledged offsets.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

type sent struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp int64  `json:"timestamp"`
	Codec     string `json:"codec"`
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
	cfg.ClientID = "compat-sarama-timestamps"
	cfg.Version = sarama.V2_1_0_0

	admin, err := sarama.NewClusterAdmin(bootstrap, cfg)
	must(err, "cluster admin")
	must(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false), "create topic")
	must(admin.Close(), "close admin")

	// Timestamps a second apart from a fixed start, rising across codecs.
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	var out []sent
	n := 0
	for _, codec := range codecs {
		pcfg := sarama.NewConfig()
		pcfg.ClientID = cfg.ClientID
		pcfg.Version = cfg.Version
		pcfg.Producer.Return.Successes = true
		pcfg.Producer.RequiredAcks = sarama.WaitForAll
		pcfg.Producer.Compression = codec
		pcfg.Producer.Flush.Frequency = 20 * time.Millisecond
		producer, err := sarama.NewSyncProducer(bootstrap, pcfg)
		must(err, "producer")
		var msgs []*sarama.ProducerMessage
		for i := 0; i < 12; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic:     topic,
				Key:       sarama.StringEncoder(fmt.Sprintf("k%d", i)),
				Value:     sarama.StringEncoder(fmt.Sprintf("%s-%d", codec, i)),
				Headers:   []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("go")}},
				Timestamp: start.Add(time.Duration(n) * time.Second),
			})
			n++
		}
		must(producer.SendMessages(msgs), "send")
		for _, m := range msgs {
			out = append(out, sent{m.Partition, m.Offset, m.Timestamp.UnixNano() / int64(time.Millisecond), codec.String()})
		}
		must(producer.Close(), "close producer")
	}

	client, err := sarama.NewClient(bootstrap, cfg)
	must(err, "client")
	startMs := start.UnixNano() / int64(time.Millisecond)
	asked := map[string]int64{"zero": 0, "middle": startMs + int64(n/2)*1000 + 500, "past": startMs + int64(n)*1000}
	answers := map[string]map[int32]int64{}
	for name, ts := range asked {
		answers[name] = map[int32]int64{}
		for p := int32(0); p < 3; p++ {
			offset, err := client.GetOffset(topic, p, ts)
			must(err, fmt.Sprintf("list offsets for %s on partition %d", name, p))
			answers[name][p] = offset
		}
	}
	must(client.Close(), "close client")

	result, _ := json.Marshal(map[string]interface{}{"sent": out, "asked": asked, "answers": answers})
	fmt.Println(string(result))
}

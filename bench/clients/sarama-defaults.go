// sarama at its default settings, for rdmq bench --client-defaults, except
// what it needs to talk to any Kafka of this decade: Version (its default,
// 0.8.2, predates record batch v2) and acks=all.
// Usage: sarama-defaults BOOTSTRAP TOPIC produce|consume RECORDS RECORD_BYTES
// Prints one JSON line: records, bytes (value bytes), seconds.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

type result struct {
	Records int     `json:"records"`
	Bytes   int     `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	brokers := strings.Split(os.Args[1], ",")
	topic, phase := os.Args[2], os.Args[3]
	records, err := strconv.Atoi(os.Args[4])
	must(err, "records")
	recordBytes, err := strconv.Atoi(os.Args[5])
	must(err, "record bytes")
	value := sarama.ByteEncoder([]byte(strings.Repeat("b", recordBytes)))
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	var out result
	if phase == "produce" {
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		producer, err := sarama.NewAsyncProducer(brokers, cfg)
		must(err, "producer")
		failed := 0
		done := make(chan struct{})
		go func() {
			for e := range producer.Errors() {
				if failed == 0 {
					fmt.Fprintf(os.Stderr, "produce failed: %v\n", e.Err)
				}
				failed++
			}
			close(done)
		}()
		start := time.Now()
		for i := 0; i < records; i++ {
			producer.Input() <- &sarama.ProducerMessage{Topic: topic, Value: value}
		}
		producer.AsyncClose()
		<-done
		if failed > 0 {
			fmt.Fprintf(os.Stderr, "%d of %d records failed\n", failed, records)
			os.Exit(1)
		}
		out = result{records, records * recordBytes, time.Since(start).Seconds()}
	} else {
		consumer, err := sarama.NewConsumer(brokers, cfg)
		must(err, "consumer")
		start := time.Now()
		pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
		must(err, "consume partition")
		got, size := 0, 0
		timeout := time.After(60 * time.Second)
		for got < records {
			select {
			case m := <-pc.Messages():
				got++
				size += len(m.Value)
			case e := <-pc.Errors():
				must(e.Err, "consume")
			case <-timeout:
				fmt.Fprintf(os.Stderr, "read %d of %d records in 60 s\n", got, records)
				os.Exit(1)
			}
		}
		out = result{got, size, time.Since(start).Seconds()}
		pc.Close()
		consumer.Close()
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

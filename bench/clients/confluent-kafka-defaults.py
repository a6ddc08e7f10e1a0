# confluent-kafka-python (librdkafka) at its default settings (acks=all set
# explicitly, which is also librdkafka's default), for rdmq bench
# --client-defaults. Usage: confluent-kafka-defaults.py BOOTSTRAP TOPIC produce|consume RECORDS RECORD_BYTES
# Prints one JSON line: records, bytes (value bytes), seconds.
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

bootstrap, topic, phase, records, record_bytes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
value = b'b' * record_bytes

if phase == 'produce':
    producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all'})
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(err)

    start = time.monotonic()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value, on_delivery=delivered)
                break
            except BufferError:
                # The client's queue is full (queue.buffering.max.messages / .kbytes): serve deliveries, then retry.
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(120)
    seconds = time.monotonic() - start
    if left > 0 or failures:
        sys.stderr.write('%d records undelivered, %d failed: %s\n' % (left, len(failures), failures[0] if failures else ''))
        sys.exit(1)
    print(json.dumps({'records': records, 'bytes': records * record_bytes, 'seconds': seconds}))
else:
    # The partition assigned, as kcat -C and kafka-python's group-less consumer read: no group join in the timing.
    # librdkafka wants a group.id even so; nothing is committed to it.
    consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'rdmq-bench-defaults', 'enable.auto.commit': False})
    start = time.monotonic()
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = 0
    size = 0
    deadline = start + 120
    while got < records and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(message.error())
        got += 1
        size += len(message.value())
    seconds = time.monotonic() - start
    consumer.close()
    print(json.dumps({'records': got, 'bytes': size, 'seconds': seconds}))

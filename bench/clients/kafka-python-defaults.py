# kafka-python at its default settings (acks='all' aside), for rdmq bench
# --client-defaults. Usage: kafka-python-defaults.py BOOTSTRAP TOPIC produce|consume RECORDS RECORD_BYTES
# Prints one JSON line: records, bytes (value bytes), seconds.
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer

bootstrap, topic, phase, records, record_bytes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
value = b'b' * record_bytes

if phase == 'produce':
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all')
    start = time.monotonic()
    for _ in range(records):
        producer.send(topic, value)
    producer.flush()
    seconds = time.monotonic() - start
    producer.close()
    print(json.dumps({'records': records, 'bytes': records * record_bytes, 'seconds': seconds}))
else:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset='earliest', group_id=None, consumer_timeout_ms=30000)
    got = 0
    size = 0
    start = time.monotonic()
    for message in consumer:
        got += 1
        size += len(message.value)
        if got >= records:
            break
    seconds = time.monotonic() - start
    consumer.close()
    print(json.dumps({'records': got, 'bytes': size, 'seconds': seconds}))

# kafka-python at its default settings (acks='all' aside), for rdmq bench
# --client-defaults, flushing every MiB of records (see below). Usage: kafka-python-defaults.py BOOTSTRAP TOPIC produce|consume RECORDS RECORD_BYTES
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
    # A flush every MiB: without it the whole 32 MB buffer fills at once and, at ~1 MB/s, batches
    # expire in the client (30 s since their last append) before they are sent; kafka-python's
    # defaults do not retry them. Settings stay at their defaults.
    every = max(1, (1 << 20) // record_bytes)
    futures = []
    for i in range(records):
        futures.append(producer.send(topic, value))
        if (i + 1) % every == 0:
            producer.flush()
    producer.flush()
    seconds = time.monotonic() - start
    producer.close()
    # flush() does not raise for failed sends, and kafka-python's default is retries=0: count them.
    failed = [f.exception for f in futures if f.failed()]
    if failed:
        kinds = sorted(set(type(e).__name__ for e in failed))
        sys.stderr.write('%d of %d records failed (%s): %s\n' % (len(failed), records, ', '.join(kinds), failed[0]))
        sys.exit(1)
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

"""kafka-python (Debian's python3-kafka 2.0.2), unchanged, against an rdmq gateway.

Usage: /usr/bin/python3 roundtrip.py BOOTSTRAP TOPIC
Creates TOPIC with 3 partitions, produces 30 keyed messages with headers
(uncompressed and gzip), consumes them in a group, commits, and prints one
JSON line with what it saw; the test checks it.
"""
import json
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id='compat-python')
admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])

sent = []
for compression in (None, 'gzip'):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', compression_type=compression, linger_ms=5)
    for i in range(15):
        value = f'{compression or "none"}-{i}'
        producer.send(topic, key=f'k{i}'.encode(), value=value.encode(), headers=[('origin', b'python')])
        sent.append(value)
    producer.flush()
    producer.close()

consumer = KafkaConsumer(
    topic,
    bootstrap_servers=bootstrap,
    group_id=f'{topic}-group',
    auto_offset_reset='earliest',
    enable_auto_commit=False,
    consumer_timeout_ms=15000,
)
received = []
for message in consumer:
    received.append({
        'partition': message.partition,
        'offset': message.offset,
        'key': message.key.decode(),
        'value': message.value.decode(),
        'headers': [[k, v.decode()] for k, v in message.headers],
    })
    if len(received) == len(sent):
        break
consumer.commit()
committed = {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)}
consumer.close()

groups = admin.describe_consumer_groups([f'{topic}-group'])
print(json.dumps({
    'topics': admin.list_topics(),
    'sent': sent,
    'received': received,
    'committed': committed,
    'group': {'state': groups[0].state, 'protocol_type': groups[0].protocol_type},
}))
admin.close()

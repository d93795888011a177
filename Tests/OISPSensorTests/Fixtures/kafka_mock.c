/* Test peer: librdkafka's mock cluster — a real Kafka-protocol broker inside librdkafka.
 * Prints the bootstrap address, then obeys stdin lines: "down" / "up" (all brokers), "quit".
 * Build: cc -o kafka_mock kafka_mock.c -lrdkafka */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int brokers = argc > 1 ? atoi(argv[1]) : 1;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) { fprintf(stderr, "rd_kafka_new: %s\n", err); return 1; }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) { fprintf(stderr, "mock cluster failed\n"); return 1; }
    rd_kafka_mock_topic_create(mc, "oisp-events", 3, 1);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        for (int b = 1; b <= brokers; b++) {
            if (!strncmp(line, "down", 4)) rd_kafka_mock_broker_set_down(mc, b);
            if (!strncmp(line, "up", 2)) rd_kafka_mock_broker_set_up(mc, b);
        }
        if (!strncmp(line, "quit", 4)) break;
        printf("ok %s", line);
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}

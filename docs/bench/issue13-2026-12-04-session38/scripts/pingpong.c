// pingpong N: round trips of 1 byte between two processes over a Unix socketpair (blocking), percentiles in µs
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){int n=atoi(argv[1]);int sv[2];socketpair(AF_UNIX,SOCK_STREAM,0,sv);char c=1;
 if(fork()==0){close(sv[0]);for(int i=0;i<n;i++){if(read(sv[1],&c,1)!=1)_exit(1);write(sv[1],&c,1);}_exit(0);}
 close(sv[1]);double*l=malloc(n*sizeof(double));for(int i=0;i<n;i++){double t=now();write(sv[0],&c,1);read(sv[0],&c,1);l[i]=now()-t;}
 qsort(l,n,sizeof(double),cmp);printf("%d round trips: p50 %.1f p99 %.1f p99.9 %.1f max %.1f us; over 150 us: %d, over 400 us: %d, over 2 ms: %d\n",n,l[n/2],l[(int)(n*0.99)],l[(int)(n*0.999)],l[n-1],
 ({int k=0;for(int i=0;i<n;i++)k+=l[i]>150;k;}),({int k=0;for(int i=0;i<n;i++)k+=l[i]>400;k;}),({int k=0;for(int i=0;i<n;i++)k+=l[i]>2000;k;}));return 0;}

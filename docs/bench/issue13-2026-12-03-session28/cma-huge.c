#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
// usage: cmah PATH REGION_MiB SLEEP_S SRC_HUGE(0/1)
int main(int argc,char**argv){
  const char* path=argv[1]; size_t region=(size_t)atol(argv[2])<<20; int sl=atoi(argv[3]); int sh=atoi(argv[4]);
  size_t sz=1<<20, rem=64<<20;
  char* src = mmap(0,rem,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); if(sh) madvise(src,rem,MADV_HUGEPAGE); memset(src,7,rem);
  pid_t child=fork(); if(child==0){ memset(src,8,rem); pause(); return 0; }
  usleep(300000);
  unlink(path); int fd=open(path,O_RDWR|O_CREAT,0600); ftruncate(fd,region);
  char* dst=mmap(0,region,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0);
  int n=region/sz; double t0,t1;
  #define PUT for(int i=0;i<n;i++){ struct iovec l={dst+(size_t)i*sz,sz}, r={src+(i*sz)%rem,sz}; process_vm_readv(child,&l,1,&r,1,0); }
  t0=now(); PUT t1=now(); printf("%s put fresh   %7.0f MB/s\n", path, region/(t1-t0)/1e6);
  t0=now(); PUT t1=now(); printf("%s put again   %7.0f MB/s\n", path, region/(t1-t0)/1e6);
  sleep(sl);
  t0=now(); PUT t1=now(); printf("%s put after %ds %7.0f MB/s\n", path, sl, region/(t1-t0)/1e6);
  t0=now(); for(int i=0;i<n;i++) memcpy(src,dst+(size_t)i*sz,sz); t1=now(); printf("%s read       %7.0f MB/s\n", path, region/(t1-t0)/1e6);
  kill(child,9); unlink(path); return 0;
}

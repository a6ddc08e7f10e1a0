#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>
#include <fcntl.h>
#include <nmmintrin.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
__attribute__((target("sse4.2"))) static uint32_t crc(const uint8_t* p, size_t n){ uint64_t a=0,b=0,c=0; size_t t=n/3; t&=~7ul; for(size_t i=0;i<t;i+=8){a=_mm_crc32_u64(a,*(uint64_t*)(p+i)); b=_mm_crc32_u64(b,*(uint64_t*)(p+t+i)); c=_mm_crc32_u64(c,*(uint64_t*)(p+2*t+i));} return (uint32_t)(a^b^c); }
// usage: cma5 SLEEP CHUNK_KiB
int main(int argc,char**argv){
  int sl=atoi(argv[1]); size_t chunk=(size_t)atol(argv[2])<<10;
  size_t region=1ul<<30, sz=1<<20, rem=64<<20;
  char* src = mmap(0,rem,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); memset(src,7,rem);
  pid_t child=fork(); if(child==0){ memset(src,8,rem); pause(); return 0; }
  usleep(300000);
  int fd=open("/dev/shm/cmatest",O_RDWR|O_CREAT,0600); ftruncate(fd,region);
  char* dst=mmap(0,region,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0);
  madvise(dst,region,23); memset(dst,1,region);
  for(size_t o=0;o<region;o+=sz){ struct iovec l={dst+o,sz}, r={dst+o,sz}; process_vm_readv(getpid(),&l,1,&r,1,0); }
  sleep(sl);
  double tc=0, tr=0; volatile uint32_t x=0; size_t roff=0;
  // pass 1: copy whole MiB, then crc of it (main-thread style, but same thread)
  for(size_t off=0; off<region/2; off+=sz){ double a=now(); struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_readv(child,&l,1,&r,1,0); double b=now(); x+=crc((uint8_t*)dst+off,sz); double c=now(); tc+=b-a; tr+=c-b; roff=(roff+sz)%rem; }
  printf("after %d s: whole-MiB copy %.0f MB/s, then crc %.0f MB/s\n", sl, (region/2)/tc/1e6, (region/2)/tr/1e6);
  tc=tr=0;
  for(size_t off=region/2; off<region; off+=sz){ for(size_t c0=0;c0<sz;c0+=chunk){ double a=now(); struct iovec l={dst+off+c0,chunk}, r={src+roff+c0,chunk}; process_vm_readv(child,&l,1,&r,1,0); double b=now(); x+=crc((uint8_t*)dst+off+c0,chunk); double c=now(); tc+=b-a; tr+=c-b;} roff=(roff+sz)%rem; }
  printf("after %d s: %zu KiB chunk copy %.0f MB/s, then crc %.0f MB/s\n", sl, chunk>>10, (region/2)/tc/1e6, (region/2)/tr/1e6);
  unlink("/dev/shm/cmatest"); kill(child,9); return 0;
}

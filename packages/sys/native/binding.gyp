{
  "targets": [
    {
      "target_name": "banger_sys",
      "sources": ["sys.c", "common.c", "peercred.c", "fsat.c", "copy.c", "fdpass.c", "netns.c", "memfd.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror"]
    }
  ]
}

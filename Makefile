# One entry point for the loop: make generate lint test
.PHONY: all generate lint test native

all: generate lint test

generate:
	npm run generate

lint:
	npm run lint

test:
	npm test

native:
	npm run build:native

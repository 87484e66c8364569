module rateload

go 1.19

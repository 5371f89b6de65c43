module ciobench

go 1.19
